// Package examples proves, against the real SDKs, how to put the resilient
// stack under a client that already retries by itself: stripe-go, openai-go,
// slack-go, go-github and the AWS SDK for Go v2.
//
// It is a module of its own, so that none of these SDKs enters the library's
// go.mod. Each *_test.go file drives one SDK, with its http.Client wrapped by
// transport.NewClient, against a local httptest server that emulates just
// enough of the API, and counts what reaches the server. The Example
// functions are the recipes to copy; the Test functions measure the
// stacked-retry problem and check that 4xx go out once, that the SDK still
// builds its own typed error, and that request bodies reach the server
// byte-identical on every attempt.
//
// Run them with:
//
//	cd examples && go test ./...
package examples
