# fault: deep nesting that never closes
pipeline p {
  let x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
}
