//! User namespaces: which containers get one (`--userns-remap`, `HostConfig.UsernsMode`), what
//! may not go with one, and the ranges of host ids they take from the pool ([`pool`]).

pub mod pool;

use crate::config::{UsernsRemap, UsernsSettings};
use crate::engine::wire::HostConfig;
use crate::engine::{Engine, EngineError, Result};
use berth_shim::spec::{IdMap, UserNamespace};
use pool::Pool;

/// How a container's user namespace is chosen, once its HostConfig and the engine's default
/// are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The host's user namespace.
    Host,
    /// A namespace of its own, with a range of its own (`shared` false) or the engine's one
    /// shared range.
    Private { shared: bool },
}

fn invalid(msg: &str) -> EngineError {
    EngineError::invalid_parameter(msg.to_string())
}

/// The choice for `h` under `settings`: `UsernsMode` "host" or "private" wins over the
/// default; "" takes it. A private container may not be privileged nor share the host's
/// network or pid namespace (dockerd's words).
pub fn choose(h: &HostConfig, settings: &UsernsSettings) -> Result<Choice> {
    let shared = settings.remap == UsernsRemap::Default;
    let choice = match h.userns_mode.as_str() {
        "host" => Choice::Host,
        "private" => Choice::Private { shared },
        "" if settings.remap == UsernsRemap::Off => Choice::Host,
        "" => Choice::Private { shared },
        other => {
            return Err(EngineError::invalid_parameter(format!(
                "invalid USER mode: {other}: berth's modes are \"host\" and \"private\""
            )))
        }
    };
    if choice == Choice::Host {
        return Ok(choice);
    }
    if h.privileged {
        return Err(invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    if h.network_mode == "host" {
        return Err(invalid(
            "cannot share the host's network namespace when user namespaces are enabled",
        ));
    }
    if h.pid_mode == "host" {
        return Err(invalid(
            "cannot share the host PID namespace when user namespaces are enabled",
        ));
    }
    for (mode, what) in [(&h.ipc_mode, "IPC"), (&h.uts_mode, "UTS")] {
        if mode == "host" {
            return Err(EngineError::invalid_parameter(format!(
                "cannot share the host {what} namespace when user namespaces are enabled: run the container with --userns=host"
            )));
        }
    }
    Ok(choice)
}

/// An idmapped bind (`Mounts[].BindOptions.IDMap`, `Binds` "src:dst:idmap") maps the source's
/// ids into the container's own user namespace: one in the host's has none to map them into.
pub fn refuse_idmap_without_userns(h: &HostConfig, choice: Choice) -> Result<()> {
    if choice != Choice::Host {
        return Ok(());
    }
    let from_mounts = h.mounts.iter().flatten().filter_map(|m| {
        let idmap = m.bind_options.as_ref().is_some_and(|o| o.idmap);
        idmap.then_some(m.source.as_str())
    });
    let from_binds = h.binds.iter().flatten().filter_map(|b| {
        let mut parts = b.split(':');
        let src = parts.next().unwrap_or_default();
        let opts = parts.nth(1).unwrap_or_default();
        opts.split(',').any(|o| o == "idmap").then_some(src)
    });
    match from_mounts.chain(from_binds).next() {
        Some(src) => Err(EngineError::invalid_parameter(format!(
            "invalid mount of {src}: the idmap option needs a user namespace of the container's own (--userns private, or the engine's --userns-remap)"
        ))),
        None => Ok(()),
    }
}

/// The range a container's spec maps its root to, as the shift that commit, export and cp
/// apply to its upper dir's ids.
pub fn shift_of(spec: &berth_shim::spec::ContainerSpec) -> Option<crate::engine::layers::IdShift> {
    let user = spec.namespaces.user.as_ref()?;
    let uid = user.uid_map.iter().find(|m| m.container_id == 0)?;
    let gid = user.gid_map.iter().find(|m| m.container_id == 0)?;
    // berth makes one map for both; any other is not a range it can shift.
    (uid == gid).then_some(crate::engine::layers::IdShift {
        start: uid.host_id,
        size: uid.size,
    })
}

/// Make the calling thread (one made for this, never a pool's) the range's root for the file
/// system: its fsuid and fsgid become the range's first id, and the capabilities that change
/// clears from its effective set are raised again, so that it may still chown what it makes.
/// Credentials are per thread: the rest of the process is unchanged.
pub fn act_as_range_root(shift: crate::engine::layers::IdShift) -> Result<()> {
    nix::unistd::setfsgid(nix::unistd::Gid::from_raw(shift.start));
    nix::unistd::setfsuid(nix::unistd::Uid::from_raw(shift.start));
    let permitted = caps::read(None, caps::CapSet::Permitted)
        .map_err(|e| EngineError::system_message(format!("reading capabilities: {e}")))?;
    caps::set(None, caps::CapSet::Effective, &permitted)
        .map_err(|e| EngineError::system_message(format!("raising capabilities: {e}")))
}

/// The spec's user namespace for a range starting at host id `start`.
pub fn namespace_of(start: u64, size: u32) -> UserNamespace {
    let map = IdMap {
        container_id: 0,
        host_id: start as u32,
        size,
    };
    UserNamespace {
        uid_map: vec![map],
        gid_map: vec![map],
    }
}

impl Engine {
    /// The pool of host ids, as the settings say.
    pub fn userns_pool(&self) -> Result<Pool> {
        Pool::open(
            self.settings.userns.pool.as_deref(),
            &self.paths.root,
            &self.paths.containers(),
        )
        .map_err(pool_error)
    }

    /// Take a range for container `id` when `choice` is private: recorded before it is used.
    pub(crate) fn allocate_userns(
        &self,
        id: &str,
        choice: Choice,
    ) -> Result<Option<UserNamespace>> {
        let Choice::Private { shared } = choice else {
            return Ok(None);
        };
        let held = self
            .userns_pool()?
            .allocate(id, shared)
            .map_err(pool_error)?;
        Ok(Some(namespace_of(held.start, held.size)))
    }

    /// A container in a user namespace of its own cannot enter the network, PID or IPC
    /// namespace of another container: those belong to the other's user namespace, in which it
    /// has no privilege. (dockerd puts it in the other's user namespace; berth does not yet.)
    pub(crate) fn refuse_joins_across_userns(&self, h: &HostConfig, choice: Choice) -> Result<()> {
        if choice == Choice::Host {
            return Ok(());
        }
        for (mode, what) in [
            (&h.network_mode, "network"),
            (&h.pid_mode, "PID"),
            (&h.ipc_mode, "IPC"),
            (&h.uts_mode, "UTS"),
        ] {
            if let Some(other) = mode.strip_prefix("container:") {
                return Err(EngineError::invalid_parameter(format!(
                    "cannot join the {what} namespace of container {other}: it belongs to another user namespace, and this container has one of its own; run both with --userns=host"
                )));
            }
        }
        Ok(())
    }

    /// Give container `id`'s range back (logged, not returned: the sweep of the next
    /// allocation frees it anyway).
    pub(crate) fn release_userns(&self, id: &str) {
        let released = self
            .userns_pool()
            .and_then(|p| p.release(id).map_err(pool_error));
        if let Err(e) = released {
            tracing::warn!("giving back the user namespace range of {id}: {e}");
        }
    }
}

fn pool_error(e: pool::PoolError) -> EngineError {
    match e {
        pool::PoolError::Exhausted { .. } => EngineError::system_message(e.to_string()),
        pool::PoolError::ReadPool { .. } | pool::PoolError::BadLine { .. } => {
            EngineError::invalid_parameter(e.to_string())
        }
        pool::PoolError::Store { .. } => EngineError::system(
            "the user namespace pool",
            std::io::Error::other(e.to_string()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(mode: &str) -> HostConfig {
        HostConfig {
            userns_mode: mode.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_mode_is_the_containers_choice_or_the_engines_default() {
        let s = |remap| UsernsSettings { remap, pool: None };
        let cases = [
            ("", UsernsRemap::Off, Choice::Host),
            ("", UsernsRemap::Auto, Choice::Private { shared: false }),
            ("", UsernsRemap::Default, Choice::Private { shared: true }),
            ("host", UsernsRemap::Auto, Choice::Host),
            (
                "private",
                UsernsRemap::Off,
                Choice::Private { shared: false },
            ),
            (
                "private",
                UsernsRemap::Default,
                Choice::Private { shared: true },
            ),
        ];
        for (mode, remap, want) in cases {
            assert_eq!(
                choose(&host(mode), &s(remap)).map_err(|e| e.to_string()),
                Ok(want),
                "UsernsMode {mode:?} with --userns-remap {remap:?}"
            );
        }
        let err = choose(&host("keep-id"), &s(UsernsRemap::Off)).unwrap_err();
        assert_eq!(
            err.message(),
            "invalid USER mode: keep-id: berth's modes are \"host\" and \"private\""
        );
    }

    #[test]
    fn a_private_namespace_refuses_what_the_kernel_cannot_do_in_dockerds_words() {
        let auto = UsernsSettings {
            remap: UsernsRemap::Auto,
            pool: None,
        };
        let refusals = [
            (
                HostConfig { privileged: true, ..host("") },
                "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
            ),
            (
                HostConfig { network_mode: "host".into(), ..host("private") },
                "cannot share the host's network namespace when user namespaces are enabled",
            ),
            (
                HostConfig { pid_mode: "host".into(), ..host("") },
                "cannot share the host PID namespace when user namespaces are enabled",
            ),
        ];
        for (h, words) in refusals {
            let err = choose(&h, &auto).expect_err(words);
            assert!(err.is(crate::engine::error::ErrorKind::InvalidParameter));
            assert_eq!(err.message(), words);
            // --userns=host opts out.
            let opt_out = HostConfig {
                userns_mode: "host".into(),
                ..h
            };
            assert_eq!(
                choose(&opt_out, &auto).map_err(|e| e.to_string()),
                Ok(Choice::Host)
            );
        }
    }
}
