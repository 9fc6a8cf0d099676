//! Integration tests: the real server on `127.0.0.1:0`, real WebSocket clients, and only
//! what a client can observe. One binary (faster to build), one module per area.

mod admin;
mod admission;
mod balancer;
mod bans;
mod changes;
mod cluster;
mod directory;
mod durability;
mod hardening;
mod health;
mod helpers;
mod http_cluster;
mod http_stream;
mod listen;
mod logs;
mod media;
mod metrics;
mod moderation;
mod names;
mod postgres;
mod private_rooms;
mod protocol;
mod rfc6455;
mod robustness;
mod transport;
mod v2;
mod web;
