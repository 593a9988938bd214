"""Generated protobuf and gRPC code for package fingerprint.v1 (by proto/generate.py; do not edit)."""
