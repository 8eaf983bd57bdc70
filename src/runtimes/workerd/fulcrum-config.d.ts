/** The config file bundled into the Worker (wrangler.toml `[alias]`). */
declare module "fulcrum-config" {
  const config: unknown;
  export default config;
}
