//! What a matching rule does to a token request.
//!
//! In JSON an effect without parameters is a bare string (`"allow"`, `"deny"`, `"require_approval"`);
//! every effect may also be written as an object tagged by `type`, and throttle must be:
//! `{"type": "throttle", "limit": 10, "window_secs": 60, "per": "agent"}` (`per` defaults to `agent`).

use std::fmt;

use serde::de::{self, MapAccess, Visitor, value::MapAccessDeserializer};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The effect names, as serde lists them in "unknown variant" errors.
const EFFECT_NAMES: &[&str] = &["allow", "deny", "throttle", "require_approval"];

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Issue the token.
    Allow,
    /// Refuse the token (403 with the rule that decided).
    Deny,
    /// Issue at most `limit` tokens per `window_secs`, counted per agent or for the whole policy.
    Throttle {
        limit: u32,
        window_secs: u32,
        per: ThrottlePer,
    },
    /// Hold the request until a person approves or denies it.
    RequireApproval,
}

/// Whose requests a throttle counts together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThrottlePer {
    /// Each agent has its own budget.
    #[default]
    Agent,
    /// All agents the policy matches share one budget.
    Policy,
}

impl Effect {
    /// The effect's name as the API spells it.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Throttle { .. } => "throttle",
            Self::RequireApproval => "require_approval",
        }
    }

    /// How strongly the effect restricts the request; at equal priority the stronger effect wins:
    /// deny, then require_approval, then throttle, then allow (a tie never loosens the outcome).
    pub(crate) const fn strictness(&self) -> u8 {
        match self {
            Self::Allow => 0,
            Self::Throttle { .. } => 1,
            Self::RequireApproval => 2,
            Self::Deny => 3,
        }
    }

    /// Whether the effect grants the request as asked, which decides how a rule reads scope lists
    /// (see `CompiledMatch`).
    pub(crate) const fn grants(&self) -> bool {
        matches!(self, Self::Allow)
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allow => f.write_str("allowed"),
            Self::Deny => f.write_str("denied"),
            Self::RequireApproval => f.write_str("held for approval"),
            Self::Throttle {
                limit,
                window_secs,
                per,
            } => {
                let per = match per {
                    ThrottlePer::Agent => "per agent",
                    ThrottlePer::Policy => "across the policy",
                };
                write!(f, "throttled to {limit} per {window_secs} s {per}")
            }
        }
    }
}

/// The object form of an effect. The parameterless variants are empty structs rather than unit
/// variants because serde ignores unknown fields next to an internally tagged unit variant, and
/// `{"type": "deny", "limit": 5}` is a mistake worth reporting.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum TaggedEffect {
    Allow {},
    Deny {},
    Throttle {
        limit: u32,
        window_secs: u32,
        #[serde(default)]
        per: ThrottlePer,
    },
    RequireApproval {},
}

impl From<TaggedEffect> for Effect {
    fn from(tagged: TaggedEffect) -> Self {
        match tagged {
            TaggedEffect::Allow {} => Self::Allow,
            TaggedEffect::Deny {} => Self::Deny,
            TaggedEffect::Throttle {
                limit,
                window_secs,
                per,
            } => Self::Throttle {
                limit,
                window_secs,
                per,
            },
            TaggedEffect::RequireApproval {} => Self::RequireApproval,
        }
    }
}

impl Serialize for Effect {
    /// The shortest form: a bare string unless the effect has parameters.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Self::Throttle {
                limit,
                window_secs,
                per,
            } => TaggedEffect::Throttle {
                limit,
                window_secs,
                per,
            }
            .serialize(serializer),
            other => serializer.serialize_str(other.name()),
        }
    }
}

impl<'de> Deserialize<'de> for Effect {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EffectVisitor)
    }
}

struct EffectVisitor;

impl<'de> Visitor<'de> for EffectVisitor {
    type Value = Effect;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            r#"an effect: "allow", "deny", "require_approval" or {"type": "throttle", "limit": .., "window_secs": ..}"#,
        )
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Effect, E> {
        match name {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            "require_approval" => Ok(Effect::RequireApproval),
            "throttle" => Err(E::custom(
                r#"a throttle needs its limit: write {"type": "throttle", "limit": 10, "window_secs": 60, "per": "agent"}"#,
            )),
            other => Err(E::unknown_variant(other, EFFECT_NAMES)),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Effect, A::Error> {
        TaggedEffect::deserialize(MapAccessDeserializer::new(map)).map(Effect::from)
    }
}
