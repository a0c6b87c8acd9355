/**
 * Where the client keeps what must survive a reload: its outbox and its cursor. Values are
 * strings under string keys; `IndexedDbStorage` is the browser's, `MemoryStorage` lasts as long
 * as the process, and an app may bring its own (a file, React Native's AsyncStorage, …).
 */
export interface SyncStorage {
  load(key: string): Promise<string | null>;
  save(key: string, value: string): Promise<void>;
}

export class MemoryStorage implements SyncStorage {
  private values = new Map<string, string>();

  async load(key: string): Promise<string | null> {
    return this.values.get(key) ?? null;
  }

  async save(key: string, value: string): Promise<void> {
    this.values.set(key, value);
  }
}

/** One IndexedDB object store of strings, in the browser. */
export class IndexedDbStorage implements SyncStorage {
  private database: Promise<IDBDatabase>;

  constructor(name = "mirubato-sync") {
    this.database = new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("values");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async load(key: string): Promise<string | null> {
    const database = await this.database;
    return new Promise((resolve, reject) => {
      const request = database.transaction("values").objectStore("values").get(key);
      request.onsuccess = () => resolve((request.result as string | undefined) ?? null);
      request.onerror = () => reject(request.error);
    });
  }

  async save(key: string, value: string): Promise<void> {
    const database = await this.database;
    return new Promise((resolve, reject) => {
      const transaction = database.transaction("values", "readwrite");
      transaction.objectStore("values").put(value, key);
      transaction.oncomplete = () => resolve();
      transaction.onerror = () => reject(transaction.error);
    });
  }
}
