/// The version of Baton every executable reports (`baton --version`, agent records, `/healthz`).
public enum BatonVersion {
    public static let current = "0.11.0-dev"
}
