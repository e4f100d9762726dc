/**
 * The identity of a node (a sled's baseboard): part number and serial number.
 *
 * The order of BaseboardIds is bytewise (UTF-8) on the part number, then the serial number, exactly
 * as a Rust `BTreeMap` orders them: the rank of a member in this order is its share's x-coordinate,
 * so sorting numerically or with `localeCompare` would hand out the wrong shares.
 */
import { type Order, Schema } from "effect"

const Part = Schema.String.check(
  Schema.makeFilter((s: string) => (s.length > 0 && !s.includes(":")) || "a non-empty part number without ':'")
)
const Serial = Schema.String.check(Schema.makeFilter((s: string) => s.length > 0 || "a non-empty serial number"))

/** A node's identity. `toString()` is `part:serial`, which is also its key in maps (parts never contain ':'). */
export class BaseboardId extends Schema.Class<BaseboardId>("BaseboardId")({
  partNumber: Part,
  serialNumber: Serial
}) {
  override toString(): string {
    return `${this.partNumber}:${this.serialNumber}`
  }
  /** The map key of this id: equal ids have equal keys. */
  get key(): string {
    return this.toString()
  }
}

const utf8 = new TextEncoder()

const compareBytes = (a: string, b: string): -1 | 0 | 1 => {
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1
}

/** Bytewise order: part number first, then serial number ("10" sorts before "2"). */
export const order: Order.Order<BaseboardId> = (a, b) =>
  compareBytes(a.partNumber, b.partNumber) || compareBytes(a.serialNumber, b.serialNumber)

/** Whether two ids name the same node. */
export const equals = (a: BaseboardId, b: BaseboardId): boolean =>
  a.partNumber === b.partNumber && a.serialNumber === b.serialNumber

/** Builds an id from its parts; throws on an empty part or a part containing ':' (a programming error). */
export const make = (partNumber: string, serialNumber: string): BaseboardId =>
  new BaseboardId({ partNumber, serialNumber })

/** Parses the `part:serial` display form (the first ':' separates the two). */
export const fromString = (s: string): BaseboardId | undefined => {
  const i = s.indexOf(":")
  if (i <= 0 || i === s.length - 1) return undefined
  return make(s.slice(0, i), s.slice(i + 1))
}

/** Sorts ids in bytewise order and removes duplicates. */
export const sortUnique = (ids: Iterable<BaseboardId>): ReadonlyArray<BaseboardId> => {
  const byKey = new Map<string, BaseboardId>()
  for (const id of ids) byKey.set(id.key, id)
  return Array.from(byKey.values()).sort(order)
}
