/**
 * Slot compaction: keeps a worker's sessions in its lowest cache slots. A step computes every
 * slot up to the highest in use (rounded up to its static bucket, gpu-worker/static_steps.ts),
 * so one session left in a high slot after a busy hour would keep every step as costly as the
 * busy hour's. Before a step, when the slots in use would fit a smaller step than the one they
 * span, the sessions above that step's slots move into the free slots below it: their rings are
 * copied on the device in one run (gpu-worker/slot_mover.ts), their bookkeeping follows.
 *
 * Moves happen only when they make steps smaller, and each fills a slot a closed session left,
 * so there are never more moves than closes. A move costs about what a step of the moved
 * sessions does (bench/worker_gpu_check.ts on an H100, `base`: 7 ms for one session, 46 ms for
 * 64 at once), so at most `maxMoves` go before one step; the rest go before the next ones.
 *
 * @module
 */
import type { InteractionModel } from "./interaction_model.ts";
import type { KvCacheSlots } from "./kv_cache_slots.ts";

/** A session's hold on a cache slot, which compaction may change. */
export interface SlotHolder {
  /** The slot the session's rings are in. */
  slot: number;
}

/**
 * Moves the sessions of `holders` (by id) above the slots the step of the slots in use needs
 * into the lowest free slots, the highest first and at most `maxMoves`; returns how many moved. Call it between steps (a step binds a
 * session's slot when it is built). A session closed while its rings are copied keeps nothing:
 * the slot taken for it goes back to the pool.
 */
export async function compactSlots(
  model: InteractionModel,
  cache: KvCacheSlots,
  holders: ReadonlyMap<string, SlotHolder>,
  maxMoves = 64,
): Promise<number> {
  const needed = model.stepSlots(cache, cache.used);
  if (model.stepSlots(cache, cache.span) <= needed) return 0;
  const moving = [...holders].filter(([, holder]) => holder.slot >= needed)
    .sort(([, a], [, b]) => b.slot - a.slot).slice(0, maxMoves)
    .map(([id, holder]) => ({ id, holder, from: holder.slot, to: cache.acquire() }));
  try {
    await model.moveSlots(cache, moving);
  } catch (error) {
    for (const { to } of moving) cache.release(to);
    throw error;
  }
  let moved = 0;
  for (const { id, holder, from, to } of moving) {
    if (holders.get(id) === holder && holder.slot === from) {
      cache.transfer(from, to);
      holder.slot = to;
      moved++;
    } else {
      cache.release(to);
    }
  }
  return moved;
}
