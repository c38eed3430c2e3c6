//! The gRPC face of the service: unpack, find out which account calls, call the domain, convert back.
//! Only mesh callers (the gateway) reach it; the account is always the caller's, from the mesh
//! metadata. Ids are parsed here first: one that is not an id of its kind names nothing and is
//! answered NOT_FOUND, as an unknown one is.

use latchkey_ids::{ServiceId, ServiceKeyId, ServiceUserId};
use latchkey_proto::directory::v1::{self as pb, directory_service_server::DirectoryService};
use latchkey_server::Caller;
use tonic::{Request, Response, Status};
use tracing::instrument;

use crate::{
    Directory, DirectoryError, Organization, Permission, Service, ServiceAt, ServiceFields, ServiceKey, Subscription,
    SubscriptionChange, User, UserChange, provider_tokens::ProviderTokenAsk,
};

pub(crate) struct GrpcApi {
    service: Directory,
}

impl GrpcApi {
    pub(crate) fn new(service: Directory) -> Self {
        Self { service }
    }

    fn caller<T>(&self, request: &Request<T>) -> Result<Caller, Status> {
        self.service.mesh.caller(request)
    }

    /// The caller of a service API call and the service it names, once the directory has admitted
    /// its actor for `access` there (see [`Directory::admit`]).
    async fn scoped<T>(
        &self,
        request: &Request<T>,
        service_id: &str,
        access: Permission,
    ) -> Result<(Caller, ServiceId), Status> {
        let caller = self.caller(request)?;
        let service = service_id_of(service_id)?;
        self.service
            .admit(&caller.account, &service, caller.actor.as_deref(), access)
            .await?;
        Ok((caller, service))
    }
}

type Answer<T> = Result<Response<T>, Status>;

fn service_id_of(text: &str) -> Result<ServiceId, DirectoryError> {
    ServiceId::try_from(text.to_owned()).map_err(|_| DirectoryError::ServiceNotFound)
}

fn user_id(text: &str) -> Result<ServiceUserId, DirectoryError> {
    ServiceUserId::try_from(text.to_owned()).map_err(|_| DirectoryError::UserNotFound)
}

fn at(service: &Option<pb::ServiceRef>) -> ServiceAt<'_> {
    let (organization, slug) = service
        .as_ref()
        .map_or(("", ""), |at| (at.org_slug.as_str(), at.service_slug.as_str()));
    ServiceAt::Slugs {
        organization,
        service: slug,
    }
}

fn fields_of(fields: Option<pb::ServiceFields>) -> ServiceFields {
    let fields = fields.unwrap_or_default();
    let present = |name: &str| fields.present_lists.iter().any(|listed| listed == name);
    ServiceFields {
        redirect_uris: present("redirect_uris").then(|| fields.redirect_uris.clone()),
        allowed_providers: present("allowed_providers").then(|| fields.allowed_providers.clone()),
        scopes: present("scopes").then(|| fields.scopes.clone()),
        name: fields.name,
        service_type: fields.service_type,
        description: fields.description,
    }
}

fn organization_to_pb(organization: Organization) -> pb::Organization {
    pb::Organization {
        id: organization.id.into_string(),
        slug: organization.slug,
        name: organization.name,
        services: organization.services,
        created_at_ms: organization.created_at_ms,
        updated_at_ms: organization.updated_at_ms,
    }
}

fn service_to_pb(service: Service) -> pb::Service {
    pb::Service {
        id: service.id.into_string(),
        slug: service.slug,
        name: service.name,
        organization: service.organization,
        service_type: service.service_type,
        description: service.description,
        redirect_uris: service.redirect_uris,
        allowed_providers: service.allowed_providers,
        scopes: service.scopes,
        created_at_ms: service.created_at_ms,
        updated_at_ms: service.updated_at_ms,
    }
}

fn key_to_pb(key: ServiceKey) -> pb::ServiceKey {
    pb::ServiceKey {
        id: key.id.into_string(),
        name: key.name,
        prefix: key.prefix,
        permissions: key.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
        created_at_ms: key.created_at_ms,
    }
}

fn user_to_pb(user: User) -> pb::User {
    pb::User {
        id: user.id.into_string(),
        email: user.email,
        name: user.name,
        created_at_ms: user.created_at_ms,
        updated_at_ms: user.updated_at_ms,
    }
}

fn subscription_to_pb(subscription: Subscription) -> pb::Subscription {
    pb::Subscription {
        user_id: subscription.user_id.into_string(),
        plan_id: subscription.plan_id,
        status: subscription.status.as_str().to_owned(),
        created_at_ms: subscription.created_at_ms,
        updated_at_ms: subscription.updated_at_ms,
    }
}

/// The user a subscription route names; a malformed id names no subscription.
fn subscription_user(text: &str) -> Result<ServiceUserId, DirectoryError> {
    ServiceUserId::try_from(text.to_owned()).map_err(|_| DirectoryError::SubscriptionNotFound)
}

#[tonic::async_trait]
impl DirectoryService for GrpcApi {
    #[instrument(skip_all, err(level = "debug"))]
    async fn create_organization(&self, request: Request<pb::CreateOrganizationRequest>) -> Answer<pb::Organization> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let organization = self
            .service
            .create_organization(&account, actor.as_deref(), &message.slug, &message.name)
            .await?;
        Ok(Response::new(organization_to_pb(organization)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Answer<pb::ListOrganizationsResponse> {
        let Caller { account, .. } = self.caller(&request)?;
        let organizations = self.service.list_organizations(&account).await?;
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations: organizations.into_iter().map(organization_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_organization(&self, request: Request<pb::OrganizationRef>) -> Answer<pb::Organization> {
        let Caller { account, .. } = self.caller(&request)?;
        let organization = self.service.organization(&account, &request.get_ref().org_slug).await?;
        Ok(Response::new(organization_to_pb(organization)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_organization(&self, request: Request<pb::UpdateOrganizationRequest>) -> Answer<pb::Organization> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let organization = self
            .service
            .update_organization(&account, actor.as_deref(), &message.org_slug, message.name.as_deref())
            .await?;
        Ok(Response::new(organization_to_pb(organization)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_organization(&self, request: Request<pb::OrganizationRef>) -> Answer<pb::DeleteResponse> {
        let Caller { account, actor } = self.caller(&request)?;
        self.service
            .delete_organization(&account, actor.as_deref(), &request.get_ref().org_slug)
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_service(&self, request: Request<pb::CreateServiceRequest>) -> Answer<pb::Service> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let service = self
            .service
            .create_service(
                &account,
                actor.as_deref(),
                &message.org_slug,
                &message.slug,
                fields_of(message.fields),
            )
            .await?;
        Ok(Response::new(service_to_pb(service)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_services(&self, request: Request<pb::OrganizationRef>) -> Answer<pb::ListServicesResponse> {
        let Caller { account, .. } = self.caller(&request)?;
        let services = self
            .service
            .list_services(&account, &request.get_ref().org_slug)
            .await?;
        Ok(Response::new(pb::ListServicesResponse {
            services: services.into_iter().map(service_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_service(&self, request: Request<pb::ServiceRef>) -> Answer<pb::Service> {
        let Caller { account, .. } = self.caller(&request)?;
        let message = request.into_inner();
        let service = self.service.service(&account, at(&Some(message))).await?;
        Ok(Response::new(service_to_pb(service)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_service(&self, request: Request<pb::UpdateServiceRequest>) -> Answer<pb::Service> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let service = self
            .service
            .update_service(
                &account,
                actor.as_deref(),
                at(&message.service),
                fields_of(message.fields),
            )
            .await?;
        Ok(Response::new(service_to_pb(service)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_service(&self, request: Request<pb::ServiceRef>) -> Answer<pb::DeleteResponse> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = Some(request.into_inner());
        self.service
            .delete_service(&account, actor.as_deref(), at(&message))
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_service_key(&self, request: Request<pb::CreateServiceKeyRequest>) -> Answer<pb::CreatedServiceKey> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let created = self
            .service
            .create_service_key(
                &account,
                actor.as_deref(),
                at(&message.service),
                &message.name,
                &message.permissions,
            )
            .await?;
        Ok(Response::new(pb::CreatedServiceKey {
            key: Some(key_to_pb(created.key)),
            secret: created.secret,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_service_keys(&self, request: Request<pb::ServiceRef>) -> Answer<pb::ListServiceKeysResponse> {
        let Caller { account, .. } = self.caller(&request)?;
        let message = Some(request.into_inner());
        let keys = self.service.list_service_keys(&account, at(&message)).await?;
        Ok(Response::new(pb::ListServiceKeysResponse {
            keys: keys.into_iter().map(key_to_pb).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_service_key(&self, request: Request<pb::DeleteServiceKeyRequest>) -> Answer<pb::DeleteResponse> {
        let Caller { account, actor } = self.caller(&request)?;
        let message = request.into_inner();
        let key = ServiceKeyId::try_from(message.key_id).map_err(|_| DirectoryError::KeyNotFound)?;
        self.service
            .delete_service_key(&account, actor.as_deref(), at(&message.service), &key)
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn authenticate_service_key(
        &self,
        request: Request<pb::AuthenticateServiceKeyRequest>,
    ) -> Answer<pb::ServiceKeyPrincipal> {
        // Mesh-only, and for no account yet: the key says which.
        self.service.mesh.require_mesh_call(&request)?;
        let principal = self.service.authenticate_service_key(&request.get_ref().secret).await?;
        Ok(Response::new(pb::ServiceKeyPrincipal {
            account_id: principal.account.into_string(),
            service_id: principal.service.into_string(),
            key_id: principal.key.into_string(),
            permissions: principal.permissions.iter().map(|p| p.as_str().to_owned()).collect(),
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_service_info(&self, request: Request<pb::ServiceScope>) -> Answer<pb::Service> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Read)
            .await?;
        let service = self.service.service(&account, ServiceAt::Id(&service)).await?;
        Ok(Response::new(service_to_pb(service)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_service_info(&self, request: Request<pb::UpdateServiceInfoRequest>) -> Answer<pb::Service> {
        let (Caller { account, actor }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let message = request.into_inner();
        let service = self
            .service
            .update_service(
                &account,
                actor.as_deref(),
                ServiceAt::Id(&service),
                fields_of(message.fields),
            )
            .await?;
        Ok(Response::new(service_to_pb(service)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_user(&self, request: Request<pb::CreateUserRequest>) -> Answer<pb::User> {
        let (Caller { account, actor }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let plan = latchkey_server::plan_of(&request);
        let message = request.get_ref();
        let user = self
            .service
            .create_user(
                &account,
                plan.as_deref(),
                actor.as_deref(),
                &service,
                &message.email,
                &message.name,
            )
            .await?;
        Ok(Response::new(user_to_pb(user)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_users(&self, request: Request<pb::ListUsersRequest>) -> Answer<pb::ListUsersResponse> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Read)
            .await?;
        let message = request.into_inner();
        let page = self
            .service
            .list_users(&account, &service, message.limit, message.offset)
            .await?;
        Ok(Response::new(pb::ListUsersResponse {
            users: page.items.into_iter().map(user_to_pb).collect(),
            total: page.total,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_user(&self, request: Request<pb::UserRef>) -> Answer<pb::User> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Read)
            .await?;
        let user = user_id(&request.get_ref().user_id)?;
        let user = self.service.user(&account, &service, &user).await?;
        Ok(Response::new(user_to_pb(user)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_user(&self, request: Request<pb::UpdateUserRequest>) -> Answer<pb::User> {
        let scope = request.get_ref().user.clone().unwrap_or_default();
        let (Caller { account, actor }, service) = self.scoped(&request, &scope.service_id, Permission::Write).await?;
        let message = request.into_inner();
        let user = user_id(&scope.user_id)?;
        let change = UserChange {
            email: message.email,
            name: message.name,
        };
        let user = self
            .service
            .update_user(&account, actor.as_deref(), &service, &user, change)
            .await?;
        Ok(Response::new(user_to_pb(user)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_user(&self, request: Request<pb::UserRef>) -> Answer<pb::DeleteResponse> {
        let (Caller { account, actor }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let user = user_id(&request.get_ref().user_id)?;
        self.service
            .delete_user(&account, actor.as_deref(), &service, &user)
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn create_subscription(&self, request: Request<pb::CreateSubscriptionRequest>) -> Answer<pb::Subscription> {
        let (Caller { account, actor }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let message = request.into_inner();
        let subscription = self
            .service
            .create_subscription(
                &account,
                actor.as_deref(),
                &service,
                &message.user_id,
                &message.plan_id,
                &message.status,
            )
            .await?;
        Ok(Response::new(subscription_to_pb(subscription)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn list_subscriptions(
        &self,
        request: Request<pb::ListSubscriptionsRequest>,
    ) -> Answer<pb::ListSubscriptionsResponse> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Read)
            .await?;
        let message = request.into_inner();
        let page = self
            .service
            .list_subscriptions(&account, &service, message.limit, message.offset)
            .await?;
        Ok(Response::new(pb::ListSubscriptionsResponse {
            subscriptions: page.items.into_iter().map(subscription_to_pb).collect(),
            total: page.total,
        }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn get_subscription(&self, request: Request<pb::UserRef>) -> Answer<pb::Subscription> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Read)
            .await?;
        let user = subscription_user(&request.get_ref().user_id)?;
        let subscription = self.service.subscription(&account, &service, &user).await?;
        Ok(Response::new(subscription_to_pb(subscription)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn update_subscription(&self, request: Request<pb::UpdateSubscriptionRequest>) -> Answer<pb::Subscription> {
        let scope = request.get_ref().user.clone().unwrap_or_default();
        let (Caller { account, actor }, service) = self.scoped(&request, &scope.service_id, Permission::Write).await?;
        let message = request.into_inner();
        let user = subscription_user(&scope.user_id)?;
        let change = SubscriptionChange {
            plan_id: message.plan_id,
            status: message.status,
        };
        let subscription = self
            .service
            .update_subscription(&account, actor.as_deref(), &service, &user, change)
            .await?;
        Ok(Response::new(subscription_to_pb(subscription)))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn delete_subscription(&self, request: Request<pb::UserRef>) -> Answer<pb::DeleteResponse> {
        let (Caller { account, actor }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let user = subscription_user(&request.get_ref().user_id)?;
        self.service
            .delete_subscription(&account, actor.as_deref(), &service, &user)
            .await?;
        Ok(Response::new(pb::DeleteResponse {}))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn authorize_provider_token(
        &self,
        request: Request<pb::AuthorizeProviderTokenRequest>,
    ) -> Answer<pb::AuthorizeProviderTokenResponse> {
        let (Caller { account, .. }, service) = self
            .scoped(&request, &request.get_ref().service_id, Permission::Write)
            .await?;
        let message = request.into_inner();
        let ask = ProviderTokenAsk {
            user: &message.user_id,
            provider: &message.provider,
            scopes: &message.scopes,
            redirect_uri: &message.redirect_uri,
        };
        let redirect_uri = self.service.authorize_provider_token(&account, &service, ask).await?;
        Ok(Response::new(pb::AuthorizeProviderTokenResponse { redirect_uri }))
    }

    #[instrument(skip_all, err(level = "debug"))]
    async fn count_usage(&self, request: Request<pb::CountUsageRequest>) -> Answer<pb::CountUsageResponse> {
        let Caller { account, .. } = self.caller(&request)?;
        let service_users = self.service.count_users(&account).await?;
        Ok(Response::new(pb::CountUsageResponse { service_users }))
    }
}
