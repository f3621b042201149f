// swift-tools-version:5.7
// The Swift face of the Cohort client SDK: CCohortClient is the C ABI (a module map over
// cohort/cohort_client.h plus libcohort_client built for iOS as an xcframework); CohortClient is
// the Swift wrapper apps import.
import PackageDescription

let package = Package(
    name: "CohortClient",
    platforms: [.iOS(.v14), .macOS(.v12)],
    products: [.library(name: "CohortClient", targets: ["CohortClient"])],
    targets: [
        .binaryTarget(name: "CohortClientBinary", path: "CohortClient.xcframework"),
        .target(name: "CCohortClient", dependencies: ["CohortClientBinary"]),
        .target(name: "CohortClient", dependencies: ["CCohortClient"]),
    ]
)
