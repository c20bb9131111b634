//! cgroups v1 and v2 (in progress)
