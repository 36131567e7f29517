(component
  (core module $m
    (memory (export "memory") 1)
    (func $forever (loop $again (br $again)))
    (start $forever)
    (func (export "call") (param i32 i32 i32 i32) (result i32) i32.const 0)
    (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 8))
  (core instance $i (instantiate $m))
  (func $call (param "tool" string) (param "input" string) (result (result string))
    (canon lift (core func $i "call") (memory (core memory $i "memory"))
      (realloc (core func $i "realloc"))))
  (instance $tools (export "call" (func $call)))
  (export "skillbox:skill/tools@0.1.0" (instance $tools)))
