// Package adminpb is the Go client of the router's gRPC admin API, generated
// from the project's proto/ by protoc (Debian's protobuf-compiler) with
// protoc-gen-go and protoc-gen-go-grpc (pinned as tools in go.mod). The
// generated files are build outputs, not committed: `make generate` (or
// `go generate ./internal/adminpb`) writes them.
package adminpb

//go:generate sh -c "protoc -I ../../../../proto --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=module=sglang-router.dev/operator/internal/adminpb '--go_opt=Msglang/router/admin/v1/admin.proto=sglang-router.dev/operator/internal/adminpb;adminpb' --go-grpc_out=. --go-grpc_opt=module=sglang-router.dev/operator/internal/adminpb '--go-grpc_opt=Msglang/router/admin/v1/admin.proto=sglang-router.dev/operator/internal/adminpb;adminpb' sglang/router/admin/v1/admin.proto"
