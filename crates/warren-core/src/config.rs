//! The core's configuration: who may log in and which vhosts exist.

use warren_model::{UserName, VHostName};

/// One user.
#[derive(Clone, Debug)]
pub struct UserConfig {
    /// The login name.
    pub name: UserName,
    /// The password, compared as given.
    pub password: String,
    /// Refused on non-loopback connections, as RabbitMQ's `guest`.
    pub loopback_only: bool,
}

/// Users and vhosts of a broker.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Users allowed to log in; every user may open every vhost.
    pub users: Vec<UserConfig>,
    /// Vhosts created at start.
    pub vhosts: Vec<VHostName>,
}

impl Default for CoreConfig {
    /// RabbitMQ's defaults: `guest`/`guest` on loopback only, vhost `/`.
    fn default() -> Self {
        let guest = UserConfig {
            name: UserName::try_from("guest").expect("a short literal is a valid name"),
            password: "guest".to_owned(),
            loopback_only: true,
        };
        Self {
            users: vec![guest],
            vhosts: vec![VHostName::try_from("/").expect("a short literal is a valid name")],
        }
    }
}
