//! capabilities, seccomp, rlimits, users (in progress)
