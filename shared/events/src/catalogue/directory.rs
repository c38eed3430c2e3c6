//! The directory's events (AuthOS's model: organizations, services, their keys, users and
//! subscriptions). Each names the ids it is about and the service it happened in (`service_id`,
//! which scopes a service's analytics); never a key's secret, and never a user's email (the chain
//! keeps what it is given for ever: read the user through the API while it exists).

use serde::{Deserialize, Serialize};

use super::{DomainEvent, EventType};

macro_rules! directory_event {
    ($(#[$doc:meta])* $name:ident, subject: $subject:ident { $($(#[$field_doc:meta])* pub $field:ident: $ty:ty),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name {
            $($(#[$field_doc])* pub $field: $ty),+
        }

        impl DomainEvent for $name {
            const TYPE: EventType = EventType::$name;
            fn subject(&self) -> Option<String> {
                Some(self.$subject.clone())
            }
        }
    };
}

directory_event!(
    /// An organization was created.
    OrganizationCreated, subject: organization_id { pub organization_id: String, pub slug: String, pub name: String }
);
directory_event!(
    /// An organization was renamed.
    OrganizationUpdated, subject: organization_id { pub organization_id: String, pub slug: String, pub name: String }
);
directory_event!(
    /// An organization was deleted (it held no services by then).
    OrganizationDeleted, subject: organization_id { pub organization_id: String, pub slug: String }
);
directory_event!(
    /// A service was created in an organization.
    ServiceCreated, subject: service_id {
        pub service_id: String,
        pub organization_id: String,
        pub slug: String,
        pub name: String,
    }
);
directory_event!(
    /// A service's settings changed; `changed` names the fields.
    ServiceUpdated, subject: service_id {
        pub service_id: String,
        pub organization_id: String,
        pub slug: String,
        pub changed: Vec<String>,
    }
);
directory_event!(
    /// A service was deleted with its keys (each also announced by `service_key.deleted`), users
    /// and subscriptions.
    ServiceDeleted, subject: service_id {
        pub service_id: String,
        pub organization_id: String,
        pub slug: String,
        /// How many users it held.
        pub users: u64,
    }
);
directory_event!(
    /// A service API key was created.
    ServiceKeyCreated, subject: key_id {
        pub key_id: String,
        pub service_id: String,
        pub name: String,
        /// The secret's first characters, as listed.
        pub prefix: String,
    }
);
directory_event!(
    /// A service API key was deleted, alone or with its service: it authenticates nothing from now
    /// on. `secret_hash` (SHA-256 hex of the secret) lets a gateway drop it from its cache.
    ServiceKeyDeleted, subject: key_id { pub key_id: String, pub service_id: String, pub secret_hash: String }
);
directory_event!(
    /// A user joined a service.
    UserCreated, subject: user_id { pub user_id: String, pub service_id: String }
);
directory_event!(
    /// A service user's fields changed; `changed` names them (`email`, `name`).
    UserUpdated, subject: user_id { pub user_id: String, pub service_id: String, pub changed: Vec<String> }
);
directory_event!(
    /// A user left a service, with its subscription.
    UserDeleted, subject: user_id { pub user_id: String, pub service_id: String }
);
directory_event!(
    /// A user of a service subscribed to a plan.
    SubscriptionCreated, subject: user_id {
        pub user_id: String,
        pub service_id: String,
        pub plan_id: String,
        pub status: String,
    }
);
directory_event!(
    /// A subscription changed plan or status (to anything but `canceled`).
    SubscriptionUpdated, subject: user_id {
        pub user_id: String,
        pub service_id: String,
        pub plan_id: String,
        pub status: String,
        pub previous_status: String,
    }
);
directory_event!(
    /// A subscription was canceled: set to `canceled` (`deleted` false) or removed (`deleted` true).
    SubscriptionCanceled, subject: user_id {
        pub user_id: String,
        pub service_id: String,
        pub plan_id: String,
        pub deleted: bool,
    }
);
