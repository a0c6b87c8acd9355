//! The app that serves. Each request takes the app that is current when it starts and keeps it to
//! its end; a reload makes another app current for the requests after it, and the old one is
//! dropped when its last request finishes.

use crate::app::App;
use std::sync::{Arc, Mutex};

pub struct LiveApp {
    current: Mutex<Arc<App>>,
}

impl LiveApp {
    pub fn new(app: App) -> Arc<Self> {
        Arc::new(Self {
            current: Mutex::new(Arc::new(app)),
        })
    }

    /// The app new requests go to.
    pub fn current(&self) -> Arc<App> {
        crate::locks::lock(&self.current).clone()
    }

    /// Makes `app` current.
    pub fn replace(&self, app: App) {
        let old = std::mem::replace(&mut *crate::locks::lock(&self.current), Arc::new(app));
        // Dropped outside the lock: the last reference tears the old app's components down.
        drop(old);
    }
}
