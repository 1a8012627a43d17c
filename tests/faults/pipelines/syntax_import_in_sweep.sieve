# fault: an import inside a sweep
pipeline p {
  sweep s in [1, 2] {
    import "lib/data.sieve"
  }
}
