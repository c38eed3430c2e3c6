//! The agent surface (Akhrot's seeds 000 and 001): what an agent reads before it acts, small first.
//! `GET /ai/context/summary` says in a few hundred bytes which providers the account has connected
//! and how they stand; `/ai/context/{provider}` and `/ai/context/{provider}/{service}` say the rest
//! only when asked, with ready-to-run commands; `GET /ai/skill` is the whole workflow as markdown
//! for this deployment. All of it is generated from the deployment's provider catalogue (as the
//! oauth service serves it) and its routes, so it cannot name what is not there. See docs/agents.md.

mod context;
mod reader;
mod skill;

pub(crate) use context::*;
pub(crate) use skill::*;
