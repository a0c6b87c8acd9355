/** The browser bundle (`dist/browser/sync-client.js`): the package as `window.MirubatoSync`. */
import * as MirubatoSync from "./index.js";

(globalThis as unknown as { MirubatoSync: typeof MirubatoSync }).MirubatoSync = MirubatoSync;
