/** Insert `value` as the most recently used entry of a Map kept in LRU order, evicting beyond `max`. */
export function storeLru<K, V>(entries: Map<K, V>, key: K, value: V, max: number): void {
  entries.delete(key);
  entries.set(key, value);
  while (entries.size > max) {
    const oldest = entries.keys().next();
    if (oldest.done === true) break;
    entries.delete(oldest.value);
  }
}
