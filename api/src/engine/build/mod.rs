//! docker build: a Dockerfile and a context to an image, each RUN step a berth container, with
//! a cache in the image store. The Dockerfile's text is read by [`dockerfile`], which does no I/O.

pub mod dockerfile;
