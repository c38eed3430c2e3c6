//! Accounts and account API keys (agents and agent tokens to follow).
