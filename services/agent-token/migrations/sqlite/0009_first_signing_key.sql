-- Which key the deployment's first start created. One row at most (id = 1): replicas starting at
-- once on an empty database race to insert it, and only the winner's key is stored.
CREATE TABLE first_signing_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    kid TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
