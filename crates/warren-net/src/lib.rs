//! warren-net
