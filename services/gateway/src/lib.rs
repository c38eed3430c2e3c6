//! The REST edge: authentication, validation, problem+json errors, OpenAPI; calls the services over gRPC.
