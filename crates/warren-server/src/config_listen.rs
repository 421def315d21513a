//! A plain-TCP listener setting: an address, or `"none"` for no plain listener, as RabbitMQ's
//! `listeners.tcp = none`. A deployment that wants a protocol over TLS only turns its plain
//! port off this way and enables the TLS listener.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// Where a plain-TCP listener listens, if it runs at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainListener {
    /// Not started.
    Off,
    /// Listening on this address.
    At(SocketAddr),
}

impl PlainListener {
    /// The address, when the listener runs.
    pub fn address(self) -> Option<SocketAddr> {
        match self {
            Self::Off => None,
            Self::At(addr) => Some(addr),
        }
    }
}

impl From<SocketAddr> for PlainListener {
    fn from(addr: SocketAddr) -> Self {
        Self::At(addr)
    }
}

/// A value that is neither `none` nor a socket address.
#[derive(Debug)]
pub struct BadListener(String);

impl fmt::Display for BadListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is neither an address (host:port) nor \"none\"",
            self.0
        )
    }
}

impl std::error::Error for BadListener {}

impl FromStr for PlainListener {
    type Err = BadListener;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "none" {
            return Ok(Self::Off);
        }
        text.parse()
            .map(Self::At)
            .map_err(|_| BadListener(text.to_owned()))
    }
}

impl<'de> Deserialize<'de> for PlainListener {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_turns_the_listener_off() {
        assert_eq!("none".parse::<PlainListener>().unwrap(), PlainListener::Off);
        assert_eq!(PlainListener::Off.address(), None);
    }

    #[test]
    fn an_address_runs_it() {
        let listener: PlainListener = "127.0.0.1:5999".parse().unwrap();
        assert_eq!(listener.address(), Some("127.0.0.1:5999".parse().unwrap()));
    }

    #[test]
    fn anything_else_is_refused_with_the_value_named() {
        let error = "off".parse::<PlainListener>().unwrap_err();
        assert!(error.to_string().contains("\"off\""), "{error}");
    }
}
