//! What a service may ask provider tokens for: the rule `/api/service/provider-tokens` applies
//! before the oauth service is asked, owned here because the lists are the service's.

use latchkey_ids::{AccountId, ServiceId, ServiceUserId};

use crate::{Directory, DirectoryError, ServiceAt, validate};

/// A service's request for a user's provider token.
#[derive(Clone, Debug)]
pub struct ProviderTokenAsk<'a> {
    pub user: &'a str,
    pub provider: &'a str,
    pub scopes: &'a [String],
    /// Empty: the service's only redirect URI, if it has exactly one.
    pub redirect_uri: &'a str,
}

impl Directory {
    /// Checks `ask` against the service: the user is one of its users (else `UserNotFound`, as for
    /// a user that does not exist), the provider and each scope are among those it allows (else
    /// `FORBIDDEN`), and the redirect URI is one it registered exactly (else the field's error).
    /// Answers the redirect URI a re-consent returns to (empty: Latchkey's own page).
    pub async fn authorize_provider_token(
        &self,
        account: &AccountId,
        service: &ServiceId,
        ask: ProviderTokenAsk<'_>,
    ) -> Result<String, DirectoryError> {
        validate::provider_code("provider", ask.provider)?;
        validate::scopes("scopes", ask.scopes)?;
        let service = self.service(account, ServiceAt::Id(service)).await?;
        let user = ServiceUserId::try_from(ask.user.to_owned()).map_err(|_| DirectoryError::UserNotFound)?;
        self.user(account, &service.id, &user).await?;
        if !service.allowed_providers.is_empty() && !service.allowed_providers.iter().any(|p| p == ask.provider) {
            return Err(DirectoryError::Forbidden(format!(
                "the service does not allow provider `{}` (its allowed_providers)",
                ask.provider
            )));
        }
        if !service.scopes.is_empty()
            && let Some(scope) = ask.scopes.iter().find(|scope| !service.scopes.contains(scope))
        {
            return Err(DirectoryError::Forbidden(format!(
                "the service does not allow scope `{scope}` (its scopes)"
            )));
        }
        if ask.redirect_uri.is_empty() {
            return Ok(match service.redirect_uris.as_slice() {
                [only] => only.clone(),
                _ => String::new(),
            });
        }
        if service.redirect_uris.iter().any(|uri| uri == ask.redirect_uri) {
            Ok(ask.redirect_uri.to_owned())
        } else {
            Err(DirectoryError::field(
                "redirect_uri",
                "not one of the service's redirect_uris (matched exactly)",
            ))
        }
    }
}
