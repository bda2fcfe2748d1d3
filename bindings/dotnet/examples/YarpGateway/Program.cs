using Microsoft.AspNetCore.Builder;

// Configuration (appsettings.json, environment, command line): RefToken:* and ReverseProxy:*.
YarpGateway.Gateway.Build(WebApplication.CreateBuilder(args)).Run();
