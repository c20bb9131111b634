//! The container's network, as the shim sets it up on the host: published ports (nftables DNAT
//! to the container's address) and bandwidth limits (tc on its veth pair).

pub mod host_side;
pub mod ports;
pub mod shape;
