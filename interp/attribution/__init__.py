"""Attribution (`frob attribute`): targets, captum methods, image and NeRF runners, scores against the known causes."""
