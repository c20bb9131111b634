//! The engine: everything berth does, for the HTTP API and the CLI alike. State lives on disk
//! under the root; any number of processes may use one root at once (file locks, atomic
//! renames). Containers are driven only through the shim crate.

pub mod build;
pub mod containers;
pub mod detach_keys;
pub mod disk_usage;
pub mod error;
pub mod events;
pub mod exec;
pub mod filters;
pub mod host;
pub mod hostnames;
pub mod ids;
pub mod images;
pub mod layers;
pub mod names;
pub mod networks;
pub mod regular_file;
pub mod restore;
pub mod sizes;
pub mod system;
pub mod time;
pub mod tree_depth;
pub mod userns;
pub mod volumes;
pub mod wire;

pub use error::{EngineError, ErrorKind, Result};

use berth_shim::Paths;
use std::path::Path;

/// A clean-up that may fail without failing its caller: logged, unless the thing is gone
/// already (the faces use it through the engine).
pub use berth_shim::cleanup::cleanup;
pub use berth_shim::paths::{DEFAULT_ROOT, DEFAULT_RUN_ROOT};

/// One engine over one root. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct Engine {
    pub paths: Paths,
    /// What the environment configured, read once at the process's start.
    pub settings: crate::config::EngineSettings,
    /// What the last listings read, checked against the files at every use (shared by clones).
    pub(crate) list_cache: std::sync::Arc<containers::list::ListCache>,
}

impl Engine {
    /// The engine over `paths` with the default settings (an empty environment's).
    pub fn new(paths: Paths) -> Engine {
        Engine::with_settings(paths, Default::default())
    }

    /// The engine over `paths` with the settings the process read at its start.
    pub fn with_settings(paths: Paths, settings: crate::config::EngineSettings) -> Engine {
        Engine {
            paths,
            settings,
            list_cache: Default::default(),
        }
    }

    /// The engine over the persistent root `root` and the runtime root `run_root`, with the
    /// default settings.
    pub fn at(root: impl AsRef<Path>, run_root: impl AsRef<Path>) -> Engine {
        Engine::new(Paths::new(root.as_ref(), run_root.as_ref()))
    }

    /// The engine over `root` and `run_root` with the settings the process read at its start.
    pub fn at_with(
        root: impl AsRef<Path>,
        run_root: impl AsRef<Path>,
        settings: crate::config::EngineSettings,
    ) -> Engine {
        Engine::with_settings(Paths::new(root.as_ref(), run_root.as_ref()), settings)
    }
}
