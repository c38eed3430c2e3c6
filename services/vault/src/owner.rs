//! Whose secrets a call reads or writes: an account's, or the deployment's own keys. The vault is
//! the one service that serves [`SYSTEM_ACCOUNT`], which is no account id (`_system` can never be
//! an `acct_…`), so its callers are typed here rather than as an `AccountId`.

use std::fmt;

use latchkey_ids::{AccountId, IdError};
use latchkey_server::SYSTEM_ACCOUNT;

/// The owner of a set of secrets. Every query of the vault is scoped by one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SecretOwner {
    /// A tenant: provider credentials, OAuth apps and tokens, webhook signing secrets.
    Account(AccountId),
    /// The deployment itself ([`SYSTEM_ACCOUNT`]): agent-token's signing keys, the audit
    /// service's checkpoint keys.
    System,
}

impl SecretOwner {
    /// Parses the account a mesh call names: [`SYSTEM_ACCOUNT`], or an account id.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        if text == SYSTEM_ACCOUNT {
            Ok(Self::System)
        } else {
            AccountId::parse(text).map(Self::Account)
        }
    }

    /// The text the rows are keyed by and the envelope's AAD binds.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Account(account) => account.as_str(),
            Self::System => SYSTEM_ACCOUNT,
        }
    }

    pub fn is_system(&self) -> bool {
        matches!(self, Self::System)
    }
}

impl From<AccountId> for SecretOwner {
    fn from(account: AccountId) -> Self {
        Self::Account(account)
    }
}

impl fmt::Display for SecretOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_account_and_account_ids_parse_and_nothing_else_does() {
        assert_eq!(SecretOwner::parse(SYSTEM_ACCOUNT), Ok(SecretOwner::System));
        let account = SecretOwner::parse("acct_0123456789abcdef").unwrap();
        assert_eq!(account.as_str(), "acct_0123456789abcdef");
        assert!(!account.is_system());
        for bad in ["", "_System", "_system_", "acct_*", "acct_a.b", "agent_1", "system"] {
            assert!(SecretOwner::parse(bad).is_err(), "{bad:?}");
        }
    }
}
