//! Who a mesh peer can be, and who one is: the transport tells, never the request.

/// Every identity a mesh certificate may name: the services, and the operator's command line.
pub const IDENTITIES: &[&str] = &[
    "gateway",
    "agent-token",
    "audit",
    "policy",
    "vault",
    "oauth",
    "webhook",
    "directory",
    "operator",
];

/// Who is at the other end of a mesh connection: the identity its verified certificate names, or,
/// for a call made within the process, the calling service's own. Set by the transport only,
/// never from what a request says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeshPeer {
    pub identity: Option<&'static str>,
}
