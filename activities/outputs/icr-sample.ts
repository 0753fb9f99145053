/**
 * ICR samples: per ISO week (Monday, UTC) of an activation dataset, `sampleSize` messages drawn at random
 * but reproducibly. Each message gets a priority from the project's counter-based generator, a pure
 * function of (seed, dataset, week, the message's raw record); the sample is the messages with the
 * smallest priorities. So it depends on neither reading order nor anything else in the run, and only
 * `sampleSize` messages per week are ever held.
 */
import { keyOf } from '../synth/random';

export interface IcrCandidate {
  week: string;
  messageId: string;
  receivedAt: string;
  text: string;
  /** Line in the raw file: the tie-break, and the output order within a received time. */
  line: number;
}

interface Ranked {
  priority: number;
  candidate: IcrCandidate;
}

/** a before b in the draw: smaller priority, then earlier line. */
function before(a: Ranked, b: Ranked): boolean {
  return a.priority < b.priority || (a.priority === b.priority && a.candidate.line < b.candidate.line);
}

/** The `capacity` smallest entries, as a binary max-heap (its root is the one to evict). */
class SmallestK {
  private readonly heap: Ranked[] = [];
  constructor(private readonly capacity: number) {}

  offer(entry: Ranked): void {
    const { heap } = this;
    if (heap.length < this.capacity) {
      heap.push(entry);
      let i = heap.length - 1;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!before(heap[parent]!, heap[i]!)) break;
        [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
        i = parent;
      }
      return;
    }
    if (!before(entry, heap[0]!)) return;
    heap[0] = entry;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let largest = i;
      if (left < heap.length && before(heap[largest]!, heap[left]!)) largest = left;
      if (right < heap.length && before(heap[largest]!, heap[right]!)) largest = right;
      if (largest === i) break;
      [heap[largest], heap[i]] = [heap[i]!, heap[largest]!];
      i = largest;
    }
  }

  values(): IcrCandidate[] {
    return this.heap.map((entry) => entry.candidate);
  }
}

export class IcrSampler {
  private readonly weeks = new Map<string, SmallestK>();
  private offered = 0;

  constructor(
    private readonly seed: number,
    private readonly dataset: string,
    private readonly sampleSize: number,
  ) {}

  /** Offers a message not coded as noise; `recordKey` names its raw record (source and record id). */
  offer(candidate: IcrCandidate, recordKey: string): void {
    this.offered += 1;
    let week = this.weeks.get(candidate.week);
    if (!week) {
      week = new SmallestK(this.sampleSize);
      this.weeks.set(candidate.week, week);
    }
    week.offer({ priority: keyOf('icr', this.seed, this.dataset, candidate.week, recordKey), candidate });
  }

  get candidates(): number {
    return this.offered;
  }

  /** The sample, by week, then received time, then raw line. */
  sample(): IcrCandidate[] {
    return [...this.weeks.keys()]
      .sort()
      .flatMap((week) =>
        this.weeks
          .get(week)!
          .values()
          .sort((a, b) => (a.receivedAt < b.receivedAt ? -1 : a.receivedAt > b.receivedAt ? 1 : a.line - b.line)),
      );
  }
}
