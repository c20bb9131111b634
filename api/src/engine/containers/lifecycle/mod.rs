//! Start, stop, kill, restart, pause, unpause, remove, rename and resize: each asks the
//! container's shim (spawning one to start it) and answers with dockerd's status and words.

mod start;

pub use start::docker_run_exit_code;
