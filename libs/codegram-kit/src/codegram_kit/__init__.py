"""Plumbing every CodeGram process shares, one subpackage per concern: runtime, web, grpc, messaging, db."""
