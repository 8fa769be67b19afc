module cgshim.test/probe

go 1.19
