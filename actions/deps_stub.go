package actions

// CONTRACT STUB: S3Store is implemented in s3store.go (issue 4).

// S3Store uploads objects to a versioned S3 bucket.
type S3Store struct{}
