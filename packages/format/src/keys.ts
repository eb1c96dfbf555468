/**
 * Packed keys: two small ids in one number, for typed-array indexes and Map keys in hot loops. Each
 * helper names what it packs, so no view or exporter restates the arithmetic.
 */
import { TIER_NAMES, VM_STATE_NAMES } from "./constants.js";

/** Slots per function in arrays indexed by tierKey (one per Tier). */
export const TIER_SLOTS = TIER_NAMES.length;

/** Index of (function id, tier) in arrays of length functionIdLimit * TIER_SLOTS. */
export function tierKey(fn: number, tier: number): number {
  return fn * TIER_SLOTS + tier;
}

/** Slots per stack in arrays indexed by pathKey: a power of two above the number of VM states. */
export const STATE_SLOTS = 8;
if (VM_STATE_NAMES.length > STATE_SLOTS) throw new Error("STATE_SLOTS must exceed the VM states");

/** Key of a sample's path: its (stack id, VM state), in 0 .. stacks.count * STATE_SLOTS - 1. */
export function pathKey(stack: number, state: number): number {
  return stack * STATE_SLOTS + state;
}

/** The stack id of a pathKey. */
export function pathKeyStack(key: number): number {
  return Math.floor(key / STATE_SLOTS);
}

/** The VM state of a pathKey. */
export function pathKeyState(key: number): number {
  return key % STATE_SLOTS;
}

/** Key of a frame (function id, tier) as the writer and builders dedup frames. */
export function frameKey(fn: number, tier: number): number {
  return fn * STATE_SLOTS + tier;
}
