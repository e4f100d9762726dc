import { assert, describe, it } from "@effect/vitest"
import { Effect, Option, Tracer } from "effect"
import * as Span from "../../src/runtime/Span.ts"

/** A tracer that records the names of the spans it opens (a backend, as far as `Span` can tell). */
const recording = () => {
  const names: Array<string> = []
  const tracer = Tracer.make({
    span(options) {
      names.push(options.name)
      return new Tracer.NativeSpan(options)
    }
  })
  return { names, tracer }
}

const currentName = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.map((s) => s.name)
)
/** The exported span's name, or whether it is an external one (which has no name). */
const exportedName = Effect.withFiber((fiber) => {
  const span = Span.exported(fiber)
  return Effect.succeed(span === undefined ? undefined : span._tag === "Span" ? span.name : "external")
})

describe("Span", () => {
  it.effect("with Effect's default tracer, traced opens no span and exported gives none", () =>
    Effect.gen(function* () {
      assert.deepStrictEqual(yield* currentName.pipe(Span.traced("tq.test")), Option.none())
      // Even inside a span of the default tracer, no frame should carry it: nothing exports it.
      const inside = yield* Effect.all([currentName, exportedName]).pipe(Effect.withSpan("app"))
      assert.deepStrictEqual(inside, [Option.some("app"), undefined])
    })
  )

  it.effect("with a tracing backend, traced opens the span and exported gives it", () =>
    Effect.gen(function* () {
      const { names, tracer } = recording()
      const inside = yield* Effect.all([currentName, exportedName]).pipe(
        Span.traced("tq.test", { attributes: { node: "0" } }),
        Effect.withSpan("app"),
        Effect.withTracer(tracer)
      )
      assert.deepStrictEqual(inside, [Option.some("tq.test"), "tq.test"])
      assert.deepStrictEqual(names, ["app", "tq.test"])
    })
  )
})
