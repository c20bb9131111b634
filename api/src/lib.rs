//! berth: the Docker Engine API server (`http`), berth's own command line (`cli`), and the engine
//! both drive (`engine`): containers, images and the on-disk stores. The flow reads top to
//! bottom: face -> engine -> shim -> kernel. `engine` never imports `http` or `cli`.
#![deny(unsafe_code)]

pub mod build_info;
pub mod cli;
pub mod config;
pub mod engine;
pub mod http;
pub mod logging;
#[allow(unsafe_code)]
mod sys;

#[cfg(test)]
mod architecture_tests;
