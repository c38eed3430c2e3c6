//! Console sessions on the wire: the domain's answers as `AgentTokenService` sends them (its
//! handlers, mesh-only, are in `crate::grpc`).

use latchkey_proto::agent_token::v1 as pb;

use super::{ConsoleSession, StartedConsoleSession};

pub(crate) fn session_to_pb(session: ConsoleSession) -> pb::ConsoleSession {
    pb::ConsoleSession {
        session_id: session.id.into_string(),
        account_id: session.account_id.into_string(),
        actor_id: session.actor.as_str().to_owned(),
        plan: session.plan,
        created_at_ms: session.created_at_ms,
        idle_expires_at_ms: session.idle_expires_at_ms,
        expires_at_ms: session.expires_at_ms,
    }
}

pub(crate) fn started_to_pb(started: StartedConsoleSession) -> pb::StartedConsoleSession {
    pb::StartedConsoleSession {
        token: started.token,
        session: Some(session_to_pb(started.session)),
    }
}
