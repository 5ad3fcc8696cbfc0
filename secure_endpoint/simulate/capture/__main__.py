from secure_endpoint.simulate.capture.simulator import main

main()
