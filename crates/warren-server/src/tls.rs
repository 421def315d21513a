//! Wiring of the TLS listeners (AMQPS, MQTTS, STOMPS) and the WebSocket listener, each off
//! unless configured, and the certificate reload the binary runs on SIGHUP.

use std::net::SocketAddr;
use std::sync::Arc;

use warren_model::SessionFactory;
use warren_net::{ListenerSpec, OutFrames, Service, TlsContext, WsRoute, WsService};

use crate::config::Config;
use crate::config_tls::{DefaultPort, TlsListener, TlsSection};
use crate::server::ServerError;

/// The session factories of the plain listeners, shared by the TLS and WebSocket ones.
pub(crate) struct Factories {
    pub amqp: Arc<dyn SessionFactory>,
    pub mqtt: Arc<dyn SessionFactory>,
    pub stomp: Arc<dyn SessionFactory>,
}

/// A listener to bind: its name, address and what it serves.
pub(crate) struct Planned {
    pub addr: SocketAddr,
    pub spec: ListenerSpec,
}

/// The TLS and WebSocket listeners `config` turns on, with their loaded TLS contexts.
pub(crate) fn plan(config: &Config, factories: &Factories) -> Result<Vec<Planned>, ServerError> {
    let l = &config.listeners;
    let shared = &config.tls;
    let mut planned = Vec::new();
    let mut tls_listener = |name, listener: (bool, SocketAddr, &TlsSection), factory: &Arc<_>| {
        let (enabled, addr, tls) = listener;
        if !enabled {
            return Ok::<_, ServerError>(());
        }
        let tls = Some(load(tls, name)?);
        let service = Service::Session(Arc::clone(factory));
        planned.push(Planned {
            addr,
            spec: ListenerSpec { name, service, tls },
        });
        Ok(())
    };
    tls_listener("amqps", parts(&l.amqps, shared), &factories.amqp)?;
    tls_listener("mqtts", parts(&l.mqtts, shared), &factories.mqtt)?;
    tls_listener("stomps", parts(&l.stomps, shared), &factories.stomp)?;
    if l.ws.enabled {
        planned.push(websocket(config, factories)?);
    }
    Ok(planned)
}

fn parts<'a, P: DefaultPort>(
    listener: &'a TlsListener<P>,
    shared: &'a TlsSection,
) -> (bool, SocketAddr, &'a TlsSection) {
    (listener.enabled, listener.address, listener.tls_or(shared))
}

fn load(section: &TlsSection, listener: &str) -> Result<Arc<TlsContext>, ServerError> {
    let settings = section.to_settings(&format!("listeners.{listener}"))?;
    TlsContext::load(settings).map_err(|source| ServerError::Tls {
        listener: listener.to_owned(),
        source,
    })
}

fn websocket(config: &Config, factories: &Factories) -> Result<Planned, ServerError> {
    let ws = &config.listeners.ws;
    let tls = ws
        .tls_or(&config.tls)
        .map(|section| load(section, "ws"))
        .transpose()?;
    let route = |name, path: &str, subprotocols: &[&str], frames, factory: &Arc<_>| WsRoute {
        name,
        path: path.to_owned(),
        subprotocols: subprotocols.iter().map(|s| (*s).to_owned()).collect(),
        frames,
        factory: Arc::clone(factory),
    };
    let service = WsService {
        routes: vec![
            route(
                "mqtt",
                &ws.mqtt_path,
                &["mqtt", "mqttv3.1"],
                OutFrames::Binary,
                &factories.mqtt,
            ),
            route(
                "stomp",
                &ws.stomp_path,
                &["v12.stomp", "v11.stomp", "v10.stomp"],
                OutFrames::TextWhenUtf8,
                &factories.stomp,
            ),
        ],
        shared_path: ws.path.clone(),
        allowed_origins: ws.allowed_origins.clone(),
        max_message_size: ws.max_message_size,
    };
    let spec = ListenerSpec {
        name: "ws",
        service: Service::WebSocket(Arc::new(service)),
        tls,
    };
    Ok(Planned {
        addr: ws.address,
        spec,
    })
}

/// Reloads every TLS listener's files. Each listener keeps its old configuration when its
/// new files are bad; the first error is returned after all were tried.
pub(crate) fn reload(contexts: &[(&'static str, Arc<TlsContext>)]) -> Result<(), ServerError> {
    let mut first = Ok(());
    for (listener, context) in contexts {
        match context.reload() {
            Ok(()) => tracing::info!(listener, "TLS certificates reloaded"),
            Err(source) => {
                tracing::error!(listener, %source, "TLS reload failed; keeping the old certificates");
                if first.is_ok() {
                    first = Err(ServerError::Tls {
                        listener: (*listener).to_owned(),
                        source,
                    });
                }
            }
        }
    }
    first
}
