//! What the container's process may do: its capabilities, its seccomp filter, its resource
//! limits and the user it runs as. Each module has its own error enum.
//!
//! The shim applies them inside the container, after pivot_root, in this order:
//! 1. [`user::resolve`] from the container's `/etc/passwd` and `/etc/group`;
//! 2. [`caps::resolve`] and [`seccomp::build`] (the filter is built while memory is plentiful
//!    and the process is still root);
//! 3. [`rlimits::apply`];
//! 4. [`caps::drop_bounding`] (needs CAP_SETPCAP, so still as root);
//! 5. `PR_SET_KEEPCAPS`, [`user::apply`], then [`caps::apply`];
//! 6. [`seccomp::load`] as the last step before execve.

pub mod caps;
pub mod rlimits;
pub mod seccomp;

pub use self::caps::{CapError, CapSet};
pub use self::rlimits::RlimitError;
pub use self::seccomp::{Filter, SeccompError};
