package actions

// CONTRACT STUB: Mailer and S3Store are implemented in email.go / s3version.go (issue 4).

// Mailer sends e-mail over SMTP.
type Mailer struct{}

// S3Store uploads objects to a versioned S3 bucket.
type S3Store struct{}
