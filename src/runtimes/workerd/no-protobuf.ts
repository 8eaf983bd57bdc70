/**
 * Stands in for `protobufjs/minimal` in Worker bundles. @datadog/sketches-js
 * requires it only to serialise sketches to protobuf, which Fulcrum never
 * does, and does not depend on it, so bundlers cannot resolve it.
 */
export default {};
