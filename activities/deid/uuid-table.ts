export interface UuidTable {
  dataToUuids(ids: readonly string[]): Promise<Map<string, string>>;   // normalised ids → `<prefix><uuid4>`
  uuidsToData(uuids: readonly string[]): Promise<Map<string, string>>;
}
